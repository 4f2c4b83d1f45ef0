// The benchmark server of Dong Yuanxin's "NodeJS 集群：cluster.js 和 PM2"
// (https://dongyuanxin.github.io/2022-05-07-process-cluster/): a CPU loop in every request, so that
// more cores mean more requests per second.
//   node dist/master.js examples/cpu.js
//   npx autocannon -c 1000 -p 10 http://127.0.0.1:3000
import http from 'node:http';

http
  .createServer((req, res) => {
    for (let i = 0; i < 1e5; i++) {} // simulate CPU work, as the article does
    res.statusCode = 200;
    res.end('hello world!');
  })
  .listen(Number(process.env.PORT) || 3000);
