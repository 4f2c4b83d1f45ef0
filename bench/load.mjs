// The load generator: autocannon, used programmatically, with its progress
// bar only when a person is watching (a TTY, and not CI).
//
// One fix on top. autocannon 9 does not honour `Connection: close`: when a
// response says the server will close, autocannon still writes the
// connection's next request into that closing socket at once, then opens a
// new connection for the request after. The lost request stays in its FIFO of
// requests awaiting an answer, so every later latency on that client is
// measured from an ever older start time (latencies grow with the run
// length: hundreds of ms where Little's law says ~10), and half the requests
// it builds are never answered. So, per client (setupClient is autocannon's
// per-client hook): once a response's headers say it is the last on its
// connection, the next request waits for the new connection, which
// autocannon opens by itself when the server closes. With keep-alive
// responses nothing changes. The check after each run catches it if a new
// autocannon version stops needing (or breaks) this.

import autocannon from 'autocannon';

/**
 * Every 2xx response time, in ms as measured (autocannon's own histogram
 * keeps whole milliseconds, and most latencies here are below one).
 */
class Latencies {
  #values = new Float64Array(1 << 16);
  #count = 0;

  record(ms) {
    if (this.#count === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#count++] = ms;
  }

  /** Nearest-rank percentiles, like HdrHistogram's. */
  summary() {
    const sorted = this.#values.subarray(0, this.#count).sort();
    const at = (p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]);
    let total = 0;
    for (const v of sorted) total += v;
    return { count: sorted.length, p50: at(50), p97_5: at(97.5), p99: at(99), max: at(100), mean: sorted.length ? total / sorted.length : null };
  }
}

function honourConnectionClose(client) {
  let closing = false;
  const doRequest = client._doRequest;
  const connect = client._connect;
  client.on('headers', (info) => {
    if (!info.shouldKeepAlive) closing = true;
  });
  client._doRequest = function (...args) {
    if (closing) return undefined; // sent on the next connection instead
    return doRequest.apply(this, args);
  };
  client._connect = function (...args) {
    closing = false;
    this.pipelinedRequests.clear(); // nothing is awaited on a connection that is gone
    return connect.apply(this, args);
  };
}

/** Runs autocannon for `duration` s against 127.0.0.1:port; resolves with its result. */
export function runLoad({ port, options, duration, title, showProgress, onInstance }) {
  return new Promise((resolve, reject) => {
    const setupClient = options.setupClient;
    const latencies = new Latencies();
    // Per path too, when a scenario mixes paths (skewed): shows whether the
    // cheap requests waited behind the expensive ones, which is what a scheduler can change.
    const byPath = new Map();
    // autocannon takes the path from the URL; a `path` option would be ignored.
    const { path = '/', ...autocannonOptions } = options;
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}${path}`,
        duration,
        timeout: 10,
        // autocannon stops at the first sample tick after `duration`: tick often, so a 0.5 s run is not a 1 s run.
        sampleInt: 100,
        ...autocannonOptions,
        setupClient: (client) => {
          honourConnectionClose(client);
          setupClient?.(client);
        },
      },
      (error, result) => {
        onInstance?.(undefined);
        if (error) return reject(error);
        // Requests written but never answered, beyond the ones in flight when the run stopped.
        const connections = options.connections ?? 10;
        const inFlight = connections * (options.pipelining ?? 1);
        const unanswered = result.requests.sent - result.requests.total - result.errors - result.timeouts;
        result.unanswered = unanswered;
        result.unansweredSuspicious = unanswered > inFlight;
        result.preciseLatency = latencies.summary();
        if (byPath.size > 0) result.latencyByPath = Object.fromEntries([...byPath].map(([p, l]) => [p, l.summary()]));
        resolve(result);
      },
    );
    onInstance?.(instance);
    instance.on('response', (client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode >= 300) return;
      latencies.record(responseTime);
      // A scenario's setupRequest may note the path in the client's context; the
      // answered request is still the current one, as autocannon emits 'response'
      // before it builds the next (one request in flight per client, no pipelining).
      const requestPath = client.requestIterator?.context?.path;
      if (requestPath !== undefined) {
        if (!byPath.has(requestPath)) byPath.set(requestPath, new Latencies());
        byPath.get(requestPath).record(responseTime);
      }
    });
    if (showProgress) {
      autocannon.track(instance, { renderProgressBar: true, renderResultsTable: false, renderLatencyTable: false, progressBarString: `${title} [:bar] :percent` });
    }
  });
}
