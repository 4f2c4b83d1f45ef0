// Long requests, to watch a graceful drain:
//   node dist/master.js examples/slow.js -w 2 --trace
//   curl 'localhost:3000/?ms=3000' &  kill -TERM <master pid>
// The master stops accepting, the workers finish the slow request (with
// `Connection: close`), and only then exit; the master exits 0.
import http from 'node:http';

http
  .createServer((req, res) => {
    const ms = Math.min(Number(new URL(req.url, 'http://localhost').searchParams.get('ms')) || 1000, 60_000);
    setTimeout(() => res.end(`answered after ${ms} ms by pid ${process.pid}\n`), ms);
  })
  .listen(Number(process.env.PORT) || 3000);
