// `perf script` output of the master (perf record -g, node --perf-basic-prof)
// -> its CPU time grouped by what it is doing, kernel included. V8's own
// profiler sees the main thread's JavaScript and attributes native work to
// whichever frame is on top; perf sees every thread, the kernel's side of
// each system call, and the C++ of Node and libuv, so its groups add up to
// all of /proc's figure.
//
// A sample belongs to the first rule that matches it: kernel samples by the
// system call they are in, user samples by the innermost frame some rule
// matches (a JavaScript frame is named `JS:*name file:line` in the perf map).

/** Kernel samples: by the system call (the frame called from do_syscall_64). */
const SYSCALLS = [
  { name: 'kernel: epoll_wait', what: 'going to sleep in the event loop and being woken again (the context switches)', test: /epoll_pwait|epoll_wait/ },
  { name: 'kernel: sendmsg', what: 'the hand-off line and its descriptor on the socket pair (SCM_RIGHTS)', test: /sendmsg/ },
  { name: 'kernel: accept4', what: 'taking the connection off the listening socket', test: /accept4/ },
  { name: 'kernel: recvmsg', what: "reading the workers' ack lines (and any other IPC)", test: /recvmsg|ksys_read/ },
  { name: 'kernel: close', what: "closing the master's copy once the worker has it", test: /sys_close/ },
  { name: 'kernel: epoll_ctl', what: 'libuv taking a closed descriptor out of epoll (uv__platform_invalidate_fd)', test: /epoll_ctl/ },
];

/** User samples: by the innermost frame a rule matches, in this order. */
const USER = [
  { name: 'user: garbage collection', what: "V8's collector, on any thread", test: /Heap::|Scavenge|MarkCompact|GCTracer|Sweeper|ConcurrentMarking|MinorMC|Evacuat/ },
  { name: 'user: hand-off write (Node, libuv)', what: 'writeUtf8String: the WriteWrap, the handle kept alive on the request, uv_write2', test: /StreamBase::WriteString|LibuvStreamWrap::DoWrite|uv_write2|uv__write\b/ },
  { name: "user: close the master's copy (Node, libuv)", what: 'HandleWrap::Close, uv_close and the closed handle freed on the next turn', test: /HandleWrap::Close|HandleWrap::OnClose|uv_close|uv__finish_close|uv__stream_close|~BaseObject|~HandleWrap|~TCPWrap|~ConnectionWrap/ },
  { name: 'user: write completion (Node, libuv)', what: "libuv's callback for each finished write, and the request's oncomplete", test: /AfterUvWrite|OnStreamAfterReqFinished|ReqWrap|WriteWrap::OnDone|uv__write_callbacks|onWriteComplete/ },
  { name: 'user: accept (Node, libuv)', what: 'uv_accept and the TCPWrap object made for each connection', test: /ConnectionWrap<.*OnConnection|uv__server_io|TCPWrap::Instantiate|uv_accept/ },
  { name: 'user: reading acks (JavaScript)', what: "the master's onread on the socket pair: ack lines read in place (Node's parser for the rest)", test: /JS:.*(fast-handoff\.js.*(onread|readAck|readSeqs|digitsEnd|decimal|ackFromJson|hasAt)|child_process|serialization|string_decoder|#onAck)/ },
  { name: 'user: acting on acks (JavaScript)', what: "Dispatcher.acknowledge: the lane, the latency, the close call", test: /JS:.*(acknowledge|lane\.js.*(take|answered)|dispatch-stats|handoff-latency|primary\.js)/ },
  { name: 'user: queue, scheduler, hand-off write (JavaScript)', what: 'Dispatcher #handoff: the queue, rr\'s pick, the lane, the line and its WriteWrap (V8 inlines them into one frame)', test: /JS:.*(#handoff|round-robin|lane\.js|scheduler|connection\.js|peerAlive|fast-handoff\.js|protocol\.js|sendConnection)/ },
  { name: 'user: accept (JavaScript)', what: "the listener's onconnection and Dispatcher.accept", test: /JS:.*(accept|listener\.js|handle-table)/ },
  { name: 'user: reading IPC (Node, libuv)', what: 'uv__read and the ArrayBuffer for each read of the socket pair', test: /LibuvStreamWrap::OnUvRead|uv__read|CallJSOnreadMethod|EmitToJSStreamListener/ },
  { name: 'user: next-tick queue', what: 'process.nextTick and the tick queue run after each callback', test: /task_queues|processTicksAndRejections|RunMicrotasks|fixed_queue/ },
  { name: 'user: entering and leaving JavaScript', what: 'MakeCallback around every callback from libuv (accept, read, write done): async hooks, the callback scope', test: /InternalMakeCallback|InternalCallbackScope|AsyncWrap::MakeCallback|EmitTraceEvent|async_hooks|CallbackScope/ },
  { name: 'user: other JavaScript', what: 'timers, heartbeats, status, everything else', test: /^JS:/ },
  { name: 'user: event loop (libuv)', what: 'uv_run, epoll setup, timers', test: /uv__io_poll|uv_run|uv__run|uv__hrtime|uv_update_time/ },
];
const OTHER_SYSCALL = { name: 'kernel: other', what: 'page faults, scheduling, other system calls', test: null };
const OTHER_USER = { name: 'user: other native', what: 'V8 (compiler, runtime), libc malloc, Node', test: null };

const symbol = (line) =>
  line
    .trim()
    .replace(/^[0-9a-f]+ /, '')
    .replace(/\+0x[0-9a-f]+ /, ' ')
    .replace(/ \([^)]*\)$/, '');

function groupOf(lines) {
  const frames = lines.map(symbol);
  if (lines[0]?.includes('[kernel.kallsyms]')) {
    const entry = frames.findIndex((f) => /do_syscall_64/.test(f));
    const inCall = entry > 0 ? frames.slice(0, entry).join(' ') : '';
    return SYSCALLS.find((g) => g.test.test(inCall)) ?? OTHER_SYSCALL;
  }
  for (const frame of frames) {
    const group = USER.find((g) => g.test.test(frame));
    if (group) return group;
  }
  return OTHER_USER;
}

/** [{ name, what, samples, share }], largest first, from the text `perf script` printed. */
export function groupPerfSamples(text) {
  const counts = new Map();
  let total = 0;
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((line) => line.trim() !== '');
    if (lines.length < 2) continue;
    const group = groupOf(lines.slice(1));
    counts.set(group, (counts.get(group) ?? 0) + 1);
    total++;
  }
  return [...counts]
    .map(([g, samples]) => ({ name: g.name, what: g.what, samples, share: samples / total }))
    .sort((a, b) => b.samples - a.samples);
}
