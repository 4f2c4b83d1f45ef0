// When to replace a worker that died unexpectedly, and when to stop trying.
//
// Two rules, from PM2 and from the restart limit (限量重启) of the article
// "nodejs之cluster模块", after Taobao FED, http://taobaofed.org/blog/2015/11/10/nodejs-cluster-2/ (docs/tutorial.md, *The articles this follows*):
//  - throttle: more than maxRestarts unexpected exits
//    within windowMs and the master gives up reforking. cfork allows 60 per 60 s;
//    PM2 16 within its min_uptime windows. A broken app never becomes a fork bomb.
//  - backoff (PM2's exp_backoff_restart_delay): the first crash of a slot after
//    a healthy run is replaced at once; the k-th consecutive crash of the same
//    slot (k >= 2) waits baseDelayMs x 1.5^(k-2): 100, 150, 225 ms... capped at
//    15 s; a worker that stays up healthyAfterMs resets its slot's streak.

export interface RestartPolicyOptions {
  maxRestarts: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs?: number;
  healthyAfterMs?: number;
}

export type RestartDecision = { restart: true; delayMs: number; streak: number } | { restart: false; exitsInWindow: number };

export class RestartPolicy {
  readonly #options: Required<RestartPolicyOptions>;
  /** Times of the unexpected exits inside the current window. */
  #recentExits: number[] = [];
  /** Consecutive crashes per slot. */
  readonly #streaks = new Map<number, number>();
  #gaveUp = false;

  constructor(options: RestartPolicyOptions) {
    this.#options = { maxDelayMs: 15_000, healthyAfterMs: 30_000, ...options };
  }

  get gaveUp(): boolean {
    return this.#gaveUp;
  }

  /** A worker in `slot` that had been up `uptimeMs` exited without being asked to. */
  onUnexpectedExit(slot: number, uptimeMs: number, now = Date.now()): RestartDecision {
    const { maxRestarts, windowMs, baseDelayMs, maxDelayMs, healthyAfterMs } = this.#options;
    this.#recentExits = this.#recentExits.filter((time) => now - time < windowMs);
    this.#recentExits.push(now);
    if (this.#gaveUp || this.#recentExits.length > maxRestarts) {
      this.#gaveUp = true;
      return { restart: false, exitsInWindow: this.#recentExits.length };
    }
    const streak = (uptimeMs >= healthyAfterMs ? 0 : (this.#streaks.get(slot) ?? 0)) + 1;
    this.#streaks.set(slot, streak);
    const delayMs = streak === 1 ? 0 : Math.min(maxDelayMs, Math.round(baseDelayMs * 1.5 ** (streak - 2)));
    return { restart: true, delayMs, streak };
  }

  /** A fresh start (a reload or a scale-up) is not a crash: forget the given-up state. */
  reset(): void {
    this.#gaveUp = false;
    this.#recentExits = [];
    this.#streaks.clear();
  }
}
