//! The AWS shared files, `~/.aws/credentials` and `~/.aws/config`, read as
//! the AWS CLI reads them, and the order in which an `s3://` lake takes
//! its settings: its own `s3` table, then the `AWS_*` environment, then
//! the profile (see [`crate::S3Options`]).
//!
//! The files are INI, a few lines long; the reader is our own because the
//! AWS SDK's loader would bring a second HTTP stack into the collector.
//! It is strict where the AWS CLI is (a line that is neither a section nor
//! `key = value`, a key or section given twice) and every refusal names
//! the file and the line.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::store::S3Options;

/// The most a shared file may hold; real ones are a few KiB, and this is
/// read into memory whole.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The longest line read: a session token is up to a few KiB.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Why the shared files could not give a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProfileError {
    /// A line refused.
    #[error("{file}, line {line}: {reason}")]
    Line {
        /// The file, as found.
        file: String,
        /// From 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A file that cannot be read at all.
    #[error("{file}: {reason}")]
    File {
        /// The file, as found.
        file: String,
        /// Why.
        reason: String,
    },
    /// A profile asked for by name (`profile` in `s3`, or `AWS_PROFILE`)
    /// that neither file has.
    #[error("AWS profile `{name}` is in neither {credentials} nor {config}")]
    NotFound {
        /// The profile's name.
        name: String,
        /// The credentials file looked in.
        credentials: String,
        /// The config file looked in.
        config: String,
    },
}

/// The variables the S3 settings read: every `AWS_*` one, and `HOME` (or
/// `USERPROFILE`) for the files' default place. Taken as a value so tests
/// need not change the process's environment.
#[derive(Clone, Debug, Default)]
pub(crate) struct AwsEnv {
    vars: BTreeMap<String, String>,
}

impl AwsEnv {
    /// This process's environment.
    pub(crate) fn from_process() -> AwsEnv {
        AwsEnv::from_pairs(std::env::vars_os().filter_map(|(k, v)| {
            let (k, v) = (k.into_string().ok()?, v.into_string().ok()?);
            (k.starts_with("AWS_") || k == "HOME" || k == "USERPROFILE").then_some((k, v))
        }))
    }

    /// An environment of these variables only.
    pub(crate) fn from_pairs(
        pairs: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> AwsEnv {
        AwsEnv {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; an empty one counts as unset, as for the AWS CLI.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The `AWS_*` variables, for object_store's own reading of them.
    pub(crate) fn aws_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn home(&self) -> Option<PathBuf> {
        self.get("HOME")
            .or_else(|| self.get("USERPROFILE"))
            .map(PathBuf::from)
    }

    /// `var`'s file (a leading `~/` is the home folder), else `default`
    /// under the home folder; `None` without a home.
    fn file(&self, var: &str, default: &str) -> Option<PathBuf> {
        match self.get(var) {
            Some(path) => match path.strip_prefix("~/") {
                Some(rest) => self.home().map(|h| h.join(rest)),
                None => Some(PathBuf::from(path)),
            },
            None => self.home().map(|h| h.join(default)),
        }
    }
}

/// A value from a shared file, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Located {
    value: String,
    file: String,
    line: usize,
}

impl Located {
    fn error(&self, reason: impl Into<String>) -> ProfileError {
        ProfileError::Line {
            file: self.file.clone(),
            line: self.line,
            reason: reason.into(),
        }
    }
}

/// One `[section]` of a file: its settings by lowercase key; a sub-setting
/// (an indented `key = value` under `parent =`) as `parent.key`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Section {
    settings: BTreeMap<String, Located>,
}

/// A shared file's sections, by the name in their brackets (trimmed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct IniFile {
    sections: BTreeMap<String, Section>,
}

/// Reads `text` (the contents of `file`) as the AWS CLI's INI: `[section]`
/// lines; `key = value` lines in them (keys lowercased, a `#` or `;` after
/// a space starting a comment); lines starting with `#` or `;` and blank
/// lines skipped; `parent =` followed by more indented `key = value` lines
/// (as `s3 =` then `  addressing_style = path`).
fn parse(text: &[u8], file: &str) -> Result<IniFile, ProfileError> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let err = |line: usize, reason: &str| ProfileError::Line {
        file: file.to_owned(),
        line,
        reason: reason.to_owned(),
    };
    let mut ini = IniFile::default();
    // The section being read, and the line of each section's header.
    let mut current: Option<String> = None;
    let mut headers: BTreeMap<String, usize> = BTreeMap::new();
    // The last key read: its indent, name, and whether its value was
    // empty (then more indented lines are its sub-settings).
    let mut last_key: Option<(usize, String, bool)> = None;
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        if raw.len() > MAX_LINE_BYTES {
            return Err(err(
                n,
                &format!("a line longer than {} KiB", MAX_LINE_BYTES / 1024),
            ));
        }
        let line = std::str::from_utf8(raw).map_err(|_| err(n, "not UTF-8 text"))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let body = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - body.len();
        let body = body.trim_end();
        if body.is_empty() || body.starts_with(['#', ';']) {
            continue;
        }
        let continues = last_key
            .as_ref()
            .filter(|(key_indent, _, _)| indent > *key_indent);
        if let Some((_, parent, empty)) = continues {
            if !*empty {
                return Err(err(
                    n,
                    &format!(
                        "an indented line continues the value of `{parent}` (values of more than one line are not read)"
                    ),
                ));
            }
            let (key, value) = key_value(body).map_err(|reason| err(n, reason))?;
            let key = format!("{parent}.{key}");
            let section = current.as_ref().and_then(|s| ini.sections.get_mut(s));
            // A parent key only exists inside a section.
            if let Some(section) = section {
                insert(section, key, value, file, n)?;
            }
            continue;
        }
        if let Some(rest) = body.strip_prefix('[') {
            let Some((name, after)) = rest.split_once(']') else {
                return Err(err(n, "a section's `[` without its `]`"));
            };
            let after = after.trim_start();
            if !after.is_empty() && !after.starts_with(['#', ';']) {
                return Err(err(n, "text after a section's `]`"));
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(err(n, "a section without a name"));
            }
            if let Some(first) = headers.get(name) {
                return Err(err(
                    n,
                    &format!("section [{name}] again (first at line {first})"),
                ));
            }
            headers.insert(name.to_owned(), n);
            ini.sections.insert(name.to_owned(), Section::default());
            current = Some(name.to_owned());
            last_key = None;
            continue;
        }
        let (key, value) = key_value(body).map_err(|reason| err(n, reason))?;
        let Some(section) = current.as_ref().and_then(|s| ini.sections.get_mut(s)) else {
            return Err(err(n, "a setting before any [section]"));
        };
        last_key = Some((indent, key.clone(), value.is_empty()));
        insert(section, key, value, file, n)?;
    }
    Ok(ini)
}

/// `key = value` (the key lowercased, the value without a trailing
/// comment), or why not.
fn key_value(body: &str) -> Result<(String, String), &'static str> {
    let Some((key, value)) = body.split_once('=') else {
        return Err("neither a [section] nor `key = value`");
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("a `= value` without a key");
    }
    if key.contains(char::is_whitespace) {
        return Err("a key with a space in it");
    }
    let value = value.trim();
    // A comment starts at `#` or `;` after whitespace: the AWS SDKs' rule.
    let end = value
        .char_indices()
        .find(|&(i, c)| {
            matches!(c, '#' | ';') && value[..i].ends_with(char::is_whitespace) && i > 0
        })
        .map_or(value.len(), |(i, _)| i);
    Ok((key.to_ascii_lowercase(), value[..end].trim_end().to_owned()))
}

fn insert(
    section: &mut Section,
    key: String,
    value: String,
    file: &str,
    line: usize,
) -> Result<(), ProfileError> {
    if let Some(first) = section.settings.get(&key) {
        return Err(ProfileError::Line {
            file: file.to_owned(),
            line,
            reason: format!(
                "`{key}` again in this section (first at line {})",
                first.line
            ),
        });
    }
    section.settings.insert(
        key,
        Located {
            value,
            file: file.to_owned(),
            line,
        },
    );
    Ok(())
}

/// Reads a shared file: `None` where there is none.
fn load(path: &Path) -> Result<Option<IniFile>, ProfileError> {
    let name = path.display().to_string();
    let file_err = |reason: String| ProfileError::File {
        file: name.clone(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_err(e.to_string())),
    };
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| file_err(e.to_string()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(file_err(format!(
            "larger than {} KiB, too large for an AWS shared file",
            MAX_FILE_BYTES / 1024
        )));
    }
    parse(&text, &name).map(Some)
}

/// A profile's settings: the config file's section, with the credentials
/// file's over it (as the AWS CLI merges them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Profile {
    settings: BTreeMap<String, Located>,
}

impl Profile {
    /// The profile `name` from the two files at their places in `env`:
    /// `None` if neither has it and `required` is false.
    fn find(env: &AwsEnv, name: &str, required: bool) -> Result<Option<Profile>, ProfileError> {
        let credentials = env.file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
        let config = env.file("AWS_CONFIG_FILE", ".aws/config");
        let mut found: Option<Profile> = None;
        if let Some(ini) = config.as_deref().map(load).transpose()?.flatten() {
            // In the config file a profile is `[profile NAME]`; the default
            // one may also be `[default]`. Other sections (`sso-session`,
            // `services`, a bare name) are not profiles.
            let section = ini.sections.iter().find_map(|(header, section)| {
                let mut words = header.split_whitespace();
                let is = match (words.next(), words.next(), words.next()) {
                    (Some("profile"), Some(n), None) => n == name,
                    (Some("default"), None, None) => name == "default",
                    _ => false,
                };
                is.then_some(section)
            });
            if let Some(section) = section {
                found = Some(Profile {
                    settings: section.settings.clone(),
                });
            }
        }
        let ini = credentials.as_deref().map(load).transpose()?.flatten();
        if let Some(section) = ini.as_ref().and_then(|ini| ini.sections.get(name)) {
            let profile = found.get_or_insert_with(Profile::default);
            for (key, value) in &section.settings {
                profile.settings.insert(key.clone(), value.clone());
            }
        }
        if found.is_none() && required {
            let shown = |p: Option<PathBuf>, default: &str| {
                p.map_or_else(|| default.to_owned(), |p| p.display().to_string())
            };
            return Err(ProfileError::NotFound {
                name: name.to_owned(),
                credentials: shown(credentials, "~/.aws/credentials"),
                config: shown(config, "~/.aws/config"),
            });
        }
        Ok(found)
    }

    fn get(&self, key: &str) -> Option<&Located> {
        self.settings.get(key).filter(|l| !l.value.is_empty())
    }
}

/// What an `s3://` lake's store is built from, once the three sources are
/// weighed: settings to put over what object_store reads from the `AWS_*`
/// variables, and whether the variables' keys are used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Set over the environment's settings (`profile` is never set here).
    pub(crate) over_env: S3Options,
    /// Whether `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN` are used: not when the keys come from the
    /// config or the profile, so a token never pairs with another's keys.
    pub(crate) env_keys: bool,
}

/// Weighs `s3`, the environment and the profile, in the AWS CLI's order:
///
/// - The profile is `s3.profile`, else `AWS_PROFILE`, else `default`; one
///   named either way must exist in one of the two files.
/// - Keys: `s3`'s, else the environment's (unless `s3.profile` names a
///   profile: as the CLI's `--profile`, that wins over the variables),
///   else the profile's, else object_store's roles.
/// - Region, endpoint, path style, plain HTTP: `s3`'s, else the
///   environment's, else the profile's (`region`, `endpoint_url`,
///   `s3 =` / `addressing_style = path|virtual`). An `http://` endpoint
///   from `s3` or the profile allows plain HTTP unless `allow_http` says
///   otherwise.
pub(crate) fn resolve(s3: &S3Options, env: &AwsEnv) -> Result<Resolved, ProfileError> {
    let (name, required) = match (&s3.profile, env.get("AWS_PROFILE")) {
        (Some(name), _) => (name.as_str(), true),
        (None, Some(name)) => (name, true),
        (None, None) => ("default", false),
    };
    let profile = Profile::find(env, name, required)?.unwrap_or_default();
    let mut over = S3Options::default();

    let env_has_keys = env.get("AWS_ACCESS_KEY_ID").is_some();
    let mut env_keys = false;
    if s3.access_key_id.is_some() {
        over.access_key_id.clone_from(&s3.access_key_id);
        over.secret_access_key.clone_from(&s3.secret_access_key);
        over.session_token.clone_from(&s3.session_token);
    } else if env_has_keys && s3.profile.is_none() {
        env_keys = true;
    } else {
        let id = profile.get("aws_access_key_id");
        let secret = profile.get("aws_secret_access_key");
        match (id, secret) {
            (Some(id), Some(secret)) => {
                over.access_key_id = Some(id.value.clone());
                over.secret_access_key = Some(secret.value.clone());
                over.session_token = profile.get("aws_session_token").map(|t| t.value.clone());
            }
            (Some(one), None) | (None, Some(one)) => {
                return Err(one.error(
                    "aws_access_key_id and aws_secret_access_key go together: give both or neither",
                ));
            }
            // No keys anywhere: object_store's roles, which the variables
            // may point at.
            (None, None) => env_keys = s3.profile.is_none(),
        }
    }

    over.region = s3.region.clone().or_else(|| {
        let in_env = env.get("AWS_REGION").or(env.get("AWS_DEFAULT_REGION"));
        in_env
            .is_none()
            .then(|| profile.get("region").map(|r| r.value.clone()))
            .flatten()
    });

    let env_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .any(|v| env.get(v).is_some());
    let mut endpoint_implies_http = s3.endpoint.as_deref().is_some_and(is_http);
    over.endpoint = match (&s3.endpoint, env_endpoint) {
        (Some(endpoint), _) => Some(endpoint.clone()),
        (None, true) => None,
        (None, false) => {
            let found = profile
                .get("s3.endpoint_url")
                .or_else(|| profile.get("endpoint_url"));
            if let Some(found) = found {
                let ok = url::Url::parse(&found.value)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(found.error(format!(
                        "endpoint_url `{}` is not an http:// or https:// URL with a host",
                        found.value
                    )));
                }
                endpoint_implies_http = is_http(&found.value);
            }
            found.map(|f| f.value.clone())
        }
    };

    over.path_style = match s3.path_style {
        Some(path_style) => Some(path_style),
        None if env.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").is_some() => None,
        None => match profile.get("s3.addressing_style") {
            None => None,
            Some(style) => match style.value.as_str() {
                "path" => Some(true),
                "virtual" => Some(false),
                "auto" => None,
                other => {
                    return Err(style.error(format!(
                        "addressing_style `{other}` is none of path, virtual, auto"
                    )));
                }
            },
        },
    };

    over.allow_http = s3
        .allow_http
        .or_else(|| endpoint_implies_http.then_some(true));
    Ok(Resolved {
        over_env: over,
        env_keys,
    })
}

fn is_http(endpoint: &str) -> bool {
    endpoint.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<IniFile, ProfileError> {
        parse(text.as_bytes(), "creds")
    }

    fn refused(text: &[u8]) -> String {
        match parse(text, "creds") {
            Ok(ini) => panic!("{:?} read as {ini:?}", String::from_utf8_lossy(text)),
            Err(e) => e.to_string(),
        }
    }

    fn value<'a>(ini: &'a IniFile, section: &str, key: &str) -> Option<&'a str> {
        ini.sections
            .get(section)?
            .settings
            .get(key)
            .map(|l| l.value.as_str())
    }

    #[test]
    fn a_shared_file_is_read_as_the_aws_cli_reads_it() {
        let ini = parsed(
            "\u{feff}# a comment\r\n\
             [default]\r\n\
             aws_access_key_id = AKIA1\r\n\
             AWS_Secret_Access_Key=s/e+c=ret   # trailing comment\n\
             \n\
             ; another comment\n\
             [profile  minio ]   # comment\n\
             \x20 region = us-east-1\n\
             \x20 s3 =\n\
             \x20\x20\x20 addressing_style = path\n\
             \x20\x20\x20 endpoint_url = http://127.0.0.1:9000\n\
             \x20 output = json#not-a-comment\n",
        )
        .unwrap();
        assert_eq!(value(&ini, "default", "aws_access_key_id"), Some("AKIA1"));
        assert_eq!(
            value(&ini, "default", "aws_secret_access_key"),
            Some("s/e+c=ret")
        );
        assert_eq!(value(&ini, "profile  minio", "region"), Some("us-east-1"));
        assert_eq!(
            value(&ini, "profile  minio", "s3.addressing_style"),
            Some("path")
        );
        assert_eq!(
            value(&ini, "profile  minio", "s3.endpoint_url"),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            value(&ini, "profile  minio", "output"),
            Some("json#not-a-comment")
        );
        assert_eq!(parsed("").unwrap(), IniFile::default());
        assert_eq!(parsed("\n\n# only comments\n").unwrap(), IniFile::default());
    }

    /// Garbage, broken sections, settings outside sections, keys and
    /// sections given twice, huge and non-UTF-8 lines: each refused with
    /// the file and the line.
    #[test]
    fn hostile_shared_files_are_refused_naming_the_file_and_line() {
        let long = format!("[a]\nk = {}\n", "x".repeat(MAX_LINE_BYTES));
        let cases: Vec<(&[u8], &str)> = vec![
            (b"garbage", "creds, line 1: neither a [section]"),
            (b"[a]\n\x00\x01\x02\n", "creds, line 2: neither a [section]"),
            (b"[a]\nk = v\n\xff\xfe = x\n", "creds, line 3: not UTF-8"),
            (
                b"[default\nk = v\n",
                "creds, line 1: a section's `[` without its `]`",
            ),
            (b"[a] junk\n", "creds, line 1: text after a section's `]`"),
            (b"[ ]\n", "creds, line 1: a section without a name"),
            (
                b"aws_access_key_id = x\n",
                "creds, line 1: a setting before any [section]",
            ),
            (b"[a]\n= v\n", "creds, line 2: a `= value` without a key"),
            (b"[a]\nmy key = v\n", "creds, line 2: a key with a space"),
            (
                b"[a]\nregion = x\n\n[b]\n[a]\n",
                "creds, line 5: section [a] again (first at line 1)",
            ),
            (
                b"[a]\nregion = x\nREGION = y\n",
                "creds, line 3: `region` again in this section (first at line 2)",
            ),
            (
                b"[a]\nregion = x\n  more\n",
                "creds, line 3: an indented line continues the value of `region`",
            ),
            (
                b"[a]\ns3 =\n  addressing_style = path\n  addressing_style = virtual\n",
                "creds, line 4: `s3.addressing_style` again",
            ),
            (
                b"[a]\ns3 =\n  nonsense\n",
                "creds, line 3: neither a [section]",
            ),
            (long.as_bytes(), "creds, line 2: a line longer than 64 KiB"),
        ];
        for (text, want) in cases {
            let got = refused(text);
            assert!(got.starts_with(want), "{text:?}: {got}");
        }
    }

    /// Any bytes: a file read or an error that names a line the text has,
    /// never a panic.
    #[test]
    fn any_bytes_are_read_or_refused_without_a_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet = b"[]=#; \t\r\nabcs3_-.\xff\xef\xbb\xbfprofiledefault";
        for _ in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 64) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 57)) as usize + i * 31) % alphabet.len()])
                .collect();
            if let Err(ProfileError::Line { line, .. }) = parse(&text, "f") {
                let lines = text.split(|&b| b == b'\n').count();
                assert!((1..=lines).contains(&line), "{text:?}: line {line}");
            }
        }
    }

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new(credentials: &str, config: &str) -> Files {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".aws")).unwrap();
            std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
            std::fs::write(dir.path().join(".aws/config"), config).unwrap();
            Files { dir }
        }

        /// An environment whose home holds the files, with `vars` too.
        fn env(&self, vars: &[(&str, &str)]) -> AwsEnv {
            let home = self.dir.path().to_str().unwrap().to_owned();
            let mut pairs: Vec<(String, String)> = vec![("HOME".into(), home)];
            pairs.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            AwsEnv::from_pairs(pairs)
        }
    }

    const CREDENTIALS: &str = "[default]\n\
        aws_access_key_id = default-id\n\
        aws_secret_access_key = default-secret\n\
        [work]\n\
        aws_access_key_id = work-id\n\
        aws_secret_access_key = work-secret\n\
        aws_session_token = work-token\n";
    const CONFIG: &str = "[default]\n\
        region = eu-west-1\n\
        [profile work]\n\
        region = us-west-2\n\
        endpoint_url = http://127.0.0.1:9000\n\
        s3 =\n\
        \x20 addressing_style = virtual\n\
        [sso-session work]\n\
        region = ignored\n";

    fn keys(r: &Resolved) -> (Option<&str>, Option<&str>, Option<&str>) {
        let o = &r.over_env;
        (
            o.access_key_id.as_deref(),
            o.secret_access_key.as_deref(),
            o.session_token.as_deref(),
        )
    }

    #[test]
    fn the_default_profile_fills_what_nothing_else_gives() {
        let files = Files::new(CREDENTIALS, CONFIG);
        let r = resolve(&S3Options::default(), &files.env(&[])).unwrap();
        assert_eq!(keys(&r), (Some("default-id"), Some("default-secret"), None));
        assert_eq!(r.over_env.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.over_env.endpoint, None);
        assert!(!r.env_keys);
    }

    #[test]
    fn aws_profile_picks_a_profile_and_the_environment_wins_over_it() {
        let files = Files::new(CREDENTIALS, CONFIG);
        let r = resolve(
            &S3Options::default(),
            &files.env(&[("AWS_PROFILE", "work")]),
        )
        .unwrap();
        assert_eq!(
            keys(&r),
            (Some("work-id"), Some("work-secret"), Some("work-token"))
        );
        assert_eq!(r.over_env.region.as_deref(), Some("us-west-2"));
        assert_eq!(
            r.over_env.endpoint.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(r.over_env.allow_http, Some(true));
        assert_eq!(r.over_env.path_style, Some(false));

        // The variables win over a profile that AWS_PROFILE names.
        let env = files.env(&[
            ("AWS_PROFILE", "work"),
            ("AWS_ACCESS_KEY_ID", "env-id"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_REGION", "ap-south-1"),
            ("AWS_ENDPOINT_URL", "https://s3.example.com"),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
        ]);
        let r = resolve(&S3Options::default(), &env).unwrap();
        assert_eq!(keys(&r), (None, None, None));
        assert!(r.env_keys);
        assert_eq!(r.over_env, S3Options::default());
    }

    /// `profile` in `s3` is the CLI's `--profile`: its keys win over the
    /// variables' (whose token must not pair with them); `s3`'s own
    /// settings win over everything.
    #[test]
    fn a_profile_named_in_the_config_wins_over_the_environments_keys() {
        let files = Files::new(CREDENTIALS, CONFIG);
        let env = files.env(&[
            ("AWS_ACCESS_KEY_ID", "env-id"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SESSION_TOKEN", "env-token"),
            ("AWS_REGION", "ap-south-1"),
        ]);
        let s3 = S3Options {
            profile: Some("work".into()),
            ..S3Options::default()
        };
        let r = resolve(&s3, &env).unwrap();
        assert_eq!(
            keys(&r),
            (Some("work-id"), Some("work-secret"), Some("work-token"))
        );
        assert!(!r.env_keys);
        // The region is still the environment's, as for the CLI.
        assert_eq!(r.over_env.region, None);

        let s3 = S3Options {
            profile: Some("work".into()),
            access_key_id: Some("cfg-id".into()),
            secret_access_key: Some("cfg-secret".into()),
            region: Some("sa-east-1".into()),
            endpoint: Some("https://minio.example.com".into()),
            path_style: Some(true),
            ..S3Options::default()
        };
        let r = resolve(&s3, &env).unwrap();
        assert_eq!(keys(&r), (Some("cfg-id"), Some("cfg-secret"), None));
        assert_eq!(r.over_env.region.as_deref(), Some("sa-east-1"));
        assert_eq!(
            r.over_env.endpoint.as_deref(),
            Some("https://minio.example.com")
        );
        assert_eq!(r.over_env.path_style, Some(true));
        assert_eq!(r.over_env.allow_http, None);
    }

    #[test]
    fn the_files_can_be_elsewhere_and_missing_ones_are_no_profile() {
        let files = Files::new("", "");
        let other = tempfile::tempdir().unwrap();
        let creds = other.path().join("creds");
        std::fs::write(
            &creds,
            "[x]\naws_access_key_id=a\naws_secret_access_key=b\n",
        )
        .unwrap();
        let env = files.env(&[
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_CONFIG_FILE", "~/no-such-config"),
            ("AWS_PROFILE", "x"),
        ]);
        let r = resolve(&S3Options::default(), &env).unwrap();
        assert_eq!(keys(&r), (Some("a"), Some("b"), None));

        // No files and no profile asked for: nothing from profiles.
        let empty = AwsEnv::from_pairs([("HOME", other.path().to_str().unwrap())]);
        let r = resolve(&S3Options::default(), &empty).unwrap();
        assert_eq!(r.over_env, S3Options::default());
        assert!(r.env_keys);
        // Nor without a home.
        let r = resolve(&S3Options::default(), &AwsEnv::default()).unwrap();
        assert!(r.env_keys);
    }

    #[test]
    fn a_profile_asked_for_and_not_there_is_an_error_naming_both_files() {
        let files = Files::new(CREDENTIALS, CONFIG);
        for (s3, env) in [
            (
                S3Options {
                    profile: Some("nope".into()),
                    ..S3Options::default()
                },
                files.env(&[]),
            ),
            (S3Options::default(), files.env(&[("AWS_PROFILE", "nope")])),
        ] {
            let err = resolve(&s3, &env).unwrap_err().to_string();
            assert!(err.starts_with("AWS profile `nope` is in neither"), "{err}");
            assert!(
                err.contains(".aws/credentials") && err.contains(".aws/config"),
                "{err}"
            );
        }
        // `sso-session work` is no profile `work` of the config file, and a
        // bare `[work]` there is none either (only in the credentials file).
        let files = Files::new("", "[sso-session work]\nregion = x\n[work]\nregion = y\n");
        let err = resolve(
            &S3Options::default(),
            &files.env(&[("AWS_PROFILE", "work")]),
        )
        .unwrap_err();
        assert!(matches!(err, ProfileError::NotFound { .. }), "{err}");
    }

    #[test]
    fn bad_profile_values_name_their_file_and_line() {
        let files = Files::new(
            "[half]\naws_access_key_id = only-id\n",
            "[profile url]\nendpoint_url = 127.0.0.1:9000\n\
             [profile style]\ns3 =\n  addressing_style = sideways\n",
        );
        let cases = [
            (
                "half",
                "credentials, line 2: aws_access_key_id and aws_secret_access_key go together",
            ),
            (
                "url",
                "config, line 2: endpoint_url `127.0.0.1:9000` is not",
            ),
            ("style", "config, line 5: addressing_style `sideways`"),
        ];
        for (profile, want) in cases {
            let err = resolve(
                &S3Options::default(),
                &files.env(&[("AWS_PROFILE", profile)]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(want), "{profile}: {err}");
        }
        // A broken file is refused even when another profile is asked for:
        // the AWS CLI reads the whole file too.
        let files = Files::new("[default]\ngarbage\n", "");
        let err = resolve(&S3Options::default(), &files.env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("credentials, line 2: neither"), "{err}");
    }

    #[test]
    fn an_oversized_or_unreadable_file_is_refused() {
        let files = Files::new("", "");
        let big = files.dir.path().join("big");
        let mut text = b"[a]\n".to_vec();
        while text.len() as u64 <= MAX_FILE_BYTES {
            text.extend_from_slice(b"# padding padding padding padding padding\n");
        }
        std::fs::write(&big, &text).unwrap();
        let env = files.env(&[("AWS_SHARED_CREDENTIALS_FILE", big.to_str().unwrap())]);
        let err = resolve(&S3Options::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than 1024 KiB"), "{err}");
        // A folder where the file should be.
        let env = files.env(&[("AWS_CONFIG_FILE", files.dir.path().to_str().unwrap())]);
        let err = resolve(&S3Options::default(), &env).unwrap_err();
        assert!(matches!(err, ProfileError::File { .. }), "{err}");
    }
}
