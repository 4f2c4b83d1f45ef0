// The hand-off latency recorder (operations/metrics/handoff-latency.ts), without processes.

import { describe, expect, test } from 'vitest';
import { bucketBound, bucketIndex, HandoffLatency, percentiles, subtractBuckets } from '../../dist/operations/metrics/handoff-latency.js';

describe('hand-off latency recorder', () => {
  test('says nothing before the first hand-off', () => {
    expect(new HandoffLatency().status()).toEqual({ count: 0, p50Us: null, p99Us: null, maxUs: null, buckets: [] });
  });

  test('each value lands in a bucket whose bound is within 4.4% above it', () => {
    for (const us of [1.5, 3, 17, 120, 999, 12_345, 2_500_000]) {
      const bound = bucketBound(bucketIndex(us));
      expect(bound).toBeGreaterThanOrEqual(us * 0.9999);
      expect(bound).toBeLessThanOrEqual(us * 1.044);
    }
  });

  test('p50 and p99 of a known spread', () => {
    const latency = new HandoffLatency();
    for (let i = 0; i < 98; i++) latency.record(100);
    latency.record(5000);
    latency.record(5000);
    const status = latency.status();
    expect(status.count).toBe(100);
    expect(status.p50Us).toBeCloseTo(bucketBound(bucketIndex(100)));
    expect(status.p99Us).toBeCloseTo(bucketBound(bucketIndex(5000)));
    expect(status.maxUs).toBe(5000);
  });

  test('two snapshots subtract to the hand-offs in between', () => {
    const latency = new HandoffLatency();
    for (let i = 0; i < 1000; i++) latency.record(5000); // before: slow
    const before = latency.status().buckets;
    for (let i = 0; i < 100; i++) latency.record(50); // between: fast
    const between = subtractBuckets(latency.status().buckets, before);
    const { count, p50, p99 } = percentiles(between);
    expect(count).toBe(100);
    expect(p50).toBeCloseTo(bucketBound(bucketIndex(50)));
    expect(p99).toBeCloseTo(bucketBound(bucketIndex(50)));
  });
});
