// Preloaded into the profiled master (node --cpu-prof ... --import this, or
// --perf-basic-prof-only-functions --import this):
// forked workers inherit process.execArgv, and we want the master's profile
// alone, with workers running as they do in the bench. So the profiling
// flags are taken out of execArgv before any worker is forked.
const profiling = /^--(cpu-prof|cpu-prof-dir|cpu-prof-interval|cpu-prof-name|import|perf-basic-prof|perf-basic-prof-only-functions)(=|$)/;
const switches = new Set(['--cpu-prof', '--perf-basic-prof', '--perf-basic-prof-only-functions']);
const keep = [];
for (let i = 0; i < process.execArgv.length; i++) {
  const arg = process.execArgv[i];
  if (profiling.test(arg)) {
    if (!arg.includes('=') && !switches.has(arg) && i + 1 < process.execArgv.length) i++; // its value
    continue;
  }
  keep.push(arg);
}
process.execArgv.splice(0, process.execArgv.length, ...keep);
