//! `levee top` on the screen: a title line, the table, the row falling
//! behind said in words, and a line of state (the endpoint unreachable,
//! the filter being typed, the keys).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::Live;
use super::view::{COLUMNS, Column, cell};

/// Each column's width; the name takes what is left.
fn width(column: Column) -> Constraint {
    match column {
        Column::Kind => Constraint::Length(7),
        Column::Name => Constraint::Min(16),
        Column::Buffer => Constraint::Length(16),
        Column::Bytes | Column::Lag => Constraint::Length(10),
        _ => Constraint::Length(9),
    }
}

pub(super) fn draw(frame: &mut Frame, live: &Live) {
    let [title, table, behind, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let (sort, descending) = live.view.sort();
    let arrow = if descending { "v" } else { "^" };
    frame.render_widget(
        Paragraph::new(format!(
            "levee top  {}  every {}  sorted by {} {arrow}",
            live.url,
            humantime::format_duration(live.every),
            sort.header()
        ))
        .style(Style::new().add_modifier(Modifier::BOLD)),
        title,
    );

    let header = Row::new(COLUMNS.iter().map(|&c| {
        let text = if c == sort {
            format!("{}{arrow}", c.header())
        } else {
            c.header().to_owned()
        };
        Cell::from(text)
    }))
    .style(Style::new().add_modifier(Modifier::REVERSED));
    let rows = live.view.visible().into_iter().map(|row| {
        let behind = live.view.is_behind(row);
        let cells = COLUMNS.iter().map(|&c| {
            let mut text = cell(row, c, false);
            // Said in text too, for a terminal without colours.
            if behind && c == Column::Name {
                text.insert_str(0, "! ");
            }
            Cell::from(text)
        });
        let style = if behind {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        Row::new(cells).style(style)
    });
    frame.render_widget(Table::new(rows, COLUMNS.map(width)).header(header), table);

    if let Some(line) = live.view.behind_line() {
        frame.render_widget(
            Paragraph::new(line).style(Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
            behind,
        );
    }

    let (filter, editing) = live.view.filter();
    let line = if let Some(why) = &live.failing {
        let seen = live.last_good.map_or_else(
            || "never read yet".to_owned(),
            |at| format!("last read {}s ago", at.elapsed().as_secs()),
        );
        // What it means first: a narrow terminal cuts the end.
        Line::styled(
            format!(
                "no answer ({seen}), trying again every {}: {why}",
                humantime::format_duration(live.every)
            ),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        )
    } else if editing {
        Line::raw(format!(
            "filter: {filter}_   (Enter keeps it, Esc clears it)"
        ))
    } else if live.last_good.is_none() {
        Line::raw("reading the endpoint...")
    } else {
        let filtered = if filter.is_empty() {
            String::new()
        } else {
            format!("filter: {filter}  ")
        };
        Line::raw(format!(
            "{filtered}q quits  / filters  s or a column's letter sorts (again: reverses)"
        ))
    };
    frame.render_widget(Paragraph::new(line), status);
}
