// Contender "single": the app in one plain process, no dispatcher at all --
// the baseline every multi-process contender has to beat.
//
// Prints the same kind of ready line as handoff, so the bench starts every
// contender the same way, and stops gracefully on SIGTERM like the others.

const { default: server } = await import('./app.mjs');

function ready() {
  const { port } = server.address();
  process.stdout.write(`single: listening on http://127.0.0.1:${port} (1 process, pid ${process.pid})\n`);
}
if (server.listening) ready();
else server.once('listening', ready);

process.on('SIGTERM', () => {
  // Exit once every connection is closed (the 'exit' handler in app.mjs
  // writes the final counts); don't wait forever for a stuck client.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(1), 5000).unref();
});
