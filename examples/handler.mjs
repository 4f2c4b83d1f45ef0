// The smallest worker script: export a request handler, handoff does the rest.
//   node dist/master.js examples/handler.mjs
export default function handler(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end(`handled by pid ${process.pid}: ${req.method} ${req.url}\n`);
}
