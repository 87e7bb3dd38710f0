// How the browser tests start the system's Chromium: Debian's, unless
// `LEVEE_CHROMIUM` names another, with no connection of its own to the
// network (this machine's is closed, and each refused one costs time).
export const executablePath = process.env.LEVEE_CHROMIUM || "/usr/bin/chromium";
export const args = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
