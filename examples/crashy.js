// A worker with a bug on one route, to watch the suicide signal at work:
//   node dist/master.js examples/crashy.js -w 2 --trace
//   curl localhost:3000/crash
// The worker logs the stack and sends `suicide`; the master forks the
// replacement at once, the request that threw gets a 500, and the old worker
// drains and exits. Everything else keeps being served.
import http from 'node:http';

http
  .createServer((req, res) => {
    if (req.url === '/crash') throw new Error('a bug on /crash');
    res.end(`ok from pid ${process.pid}\n`);
  })
  .listen(Number(process.env.PORT) || 3000);
