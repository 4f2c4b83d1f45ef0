// The load each contender gets, as autocannon options (minus url, duration).
// All load is on loopback, bounded in connections and time.
//
// A note on `Connection: close` with autocannon 9: after each response,
// autocannon writes the connection's next request at once -- into the socket
// the server is closing -- and then opens a new connection for the one after.
// So every other request it builds is lost unanswered (its `sent` count is
// twice the responses) and a fixed `requests` array is walked two entries per
// answered request: with 20 entries, entry 19 would never be answered. That
// is why `skewed` draws the slow requests at random per request (from a
// seeded generator) instead of putting `/slow` at a fixed position. Lost
// writes are not counted as errors, and responses, latencies and server-side
// connection counts are right.

export const scenarios = {
  keepalive: {
    description: 'hello world, 100 keep-alive connections',
    why: 'The common case: connections are reused, so the dispatcher works only when they open; measures the per-request path.',
    options: () => ({ connections: 100, pipelining: 1 }),
  },
  close: {
    description: 'hello world, 100 connections, `Connection: close` (a new connection per request)',
    why: 'Every request is a new connection the dispatcher has to place: measures the dispatcher itself.',
    options: () => ({ connections: 100, pipelining: 1, headers: { connection: 'close' } }),
  },
  'cpu-pipelined': {
    description: '`autocannon -c 1000 -p 10` on `/cpu` (an empty 1e5 loop per request)',
    why: "The experiment of Dong Yuanxin's article on cluster and PM2 (docs/tutorial.md): many connections, pipelined, some CPU per request.",
    options: () => ({ connections: 1000, pipelining: 10, path: '/cpu' }),
  },
  skewed: {
    headline: true,
    description: '1 request in 20 is `/slow` (50 ms of busy CPU), the rest hello world; 2 connections per worker, `Connection: close`',
    why:
      'Tail latency when a few requests are expensive. A connection scheduler can only help by steering *new* connections away ' +
      'from a worker stuck in a slow request, so every request comes on a new connection: with keep-alive, connections are placed ' +
      'once, at the start, and rr and least-conn would be identical by construction. Two connections per worker: enough that ' +
      'placing a connection blindly often queues it behind a slow request while another worker is idle, few enough that the ' +
      'workers are not all stuck in slow requests all the time (each client alone keeps a worker ~70% busy with them). ' +
      'Which requests are slow is drawn by the client (seeded: the same sequence for every contender) and nothing in the ' +
      'connection tells the server in advance, so no scheduler can know; it can only see which workers are busy.',
    options: ({ workers }) => skewedLoad(2 * workers),
  },
  'skewed-8': {
    headline: true,
    description: 'as `skewed`, with 8 clients',
    why:
      'The same mix under more pressure: with 8 clients on 2 workers a worker stuck in a slow request is the common case, ' +
      'queues form in the dispatcher, and what matters is that the cheap requests waiting there go to whichever worker is free, ' +
      'not to the one that will be busy for the next 50 ms.',
    options: () => skewedLoad(8),
  },
};

/** `connections` clients, `Connection: close`, 1 request in 20 to /slow, drawn from a seeded generator. */
function skewedLoad(connections) {
  const random = mulberry32(20);
  return {
    connections,
    pipelining: 1,
    headers: { connection: 'close' },
    requests: [
      {
        setupRequest: (request, context) => {
          // The client's context remembers the path, for latencies per path (see load.mjs).
          context.path = random() < 1 / 20 ? '/slow' : '/';
          return { ...request, path: context.path };
        },
      },
    ],
  };
}

/** A small seeded PRNG, so each contender gets the same sequence of slow requests. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
