// The client side of both versions: the same requests, in the same order,
// reported the same way. Loopback only; every wait is bounded.
import http from 'node:http';

/** GET path; resolves with what became of the connection, by `deadlineMs` at the latest. */
export function get(port, path, { deadlineMs = 4500, onHeaders } = {}) {
  const started = process.hrtime.bigint();
  const elapsed = () => Number((process.hrtime.bigint() - started) / 1_000_000n);
  return new Promise((resolve) => {
    let settled = false;
    const done = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, ms: elapsed() });
    };
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      onHeaders?.();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => done({ fate: 'answered', body, pid: Number(/pid (\d+)/.exec(body)?.[1]) }));
    });
    req.on('error', (error) => done({ fate: 'closed', error: error.code ?? error.message }));
    req.on('close', () => done({ fate: 'closed', error: 'closed' }));
    const timer = setTimeout(() => {
      done({ fate: 'pending' });
      req.destroy();
    }, deadlineMs);
  });
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function describe(name, result, note = '') {
  if (result.fate === 'answered') return `connection ${name}: answered by pid ${result.pid} after ${seconds(result.ms)}${note}`;
  if (result.fate === 'closed') return `connection ${name}: closed without an answer after ${seconds(result.ms)} (${result.error})`;
  return `connection ${name}: no answer after ${seconds(result.ms)}, and not closed either: LOST`;
}

/**
 * lost: a connection is sent to a worker whose event loop is stuck, and that
 * worker dies before reading it. refuse: a connection is sent to a worker at
 * server.maxConnections.
 */
export async function run(mode, port, print) {
  if (mode === 'lost') {
    const freeze = await get(port, '/freeze?ms=1500');
    print(`GET /freeze: ${freeze.body}`);
    const a = await get(port, '/');
    print(describe('A', a, ' (the other worker)'));
    print('connection B: sent now; in turn, it goes to the frozen worker');
    const b = await get(port, '/');
    const note = b.fate === 'answered' && b.pid !== freeze.pid ? ' (not the frozen one: it was re-sent)' : '';
    print(describe('B', b, note));
    return b.fate === 'answered';
  }
  // refuse
  let held;
  const headers = new Promise((resolve) => (held = get(port, '/hold?ms=1500', { onHeaders: resolve })));
  await headers;
  const a = await get(port, '/');
  print(`connection H: held open by one worker, which is now at its maxConnections (1)`);
  print(describe('A', a));
  const b = await get(port, '/');
  const h = await held;
  print(describe('B', b, b.pid === a.pid ? ' (the worker at maxConnections refused it; it was re-sent)' : ''));
  print(describe('H', h));
  return b.fate === 'answered' && b.pid === a.pid && h.pid !== a.pid;
}
