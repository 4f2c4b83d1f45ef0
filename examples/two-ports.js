// An app with two ports, as many have: its API on $PORT, and an admin server
// on ADMIN_PORT (3001 by default). Under handoff every worker serves both. The
// master's own socket (--port) takes the listen() on $PORT; the listen() on
// ADMIN_PORT asks the master, which binds that port once, when the first
// worker asks, and deals its connections to every worker that listens there:
// what cluster's queryServer does.
//   ADMIN_PORT=3001 node dist/master.js examples/two-ports.js -w 2 --port 3000 --trace
//   curl localhost:3000/; curl localhost:3001/
// Each answer names the server and the worker that served it.
import http from 'node:http';

const worker = `w${process.env.HANDOFF_WORKER_ID ?? '?'} (pid ${process.pid})`;

http.createServer((req, res) => res.end(`api, served by ${worker}\n`)).listen(Number(process.env.PORT) || 3000);
http.createServer((req, res) => res.end(`admin, served by ${worker}\n`)).listen(Number(process.env.ADMIN_PORT) || 3001, '127.0.0.1');
