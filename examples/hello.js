// The plainest server there is. Unchanged, it runs under handoff on every core:
//   node dist/master.js examples/hello.js
// Each response names the process that served it.
import http from 'node:http';

http
  .createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello from pid ${process.pid}\n`);
  })
  .listen(Number(process.env.PORT) || 3000);
