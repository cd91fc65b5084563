// Runs body(i) for i in [0, n) on `threads` TBB threads. Callers make results
// independent of the split: each i writes only its own output slots.
#pragma once
#include <algorithm>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace deepbmc {

// An arena of `threads` threads, capped at the processor's concurrency: more
// would only make TBB warn, and results do not depend on the thread count.
inline int arena_threads(int threads) {
  return std::max(1, std::min(threads, tbb::this_task_arena::max_concurrency()));
}

template <class Body>
void parallel_for_each(tbb::task_arena& arena, int n, Body&& body, int grain = 1) {
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<int>(0, n, grain),
                      [&](const tbb::blocked_range<int>& range) {
                        for (int i = range.begin(); i < range.end(); ++i) body(i);
                      });
  });
}

// The concurrency parallel_for_each really has in an arena of
// arena_threads(threads): max_concurrency() as its body sees it. For the test
// that the `threads` of the R functions reach TBB (test-threads.R).
inline int arena_concurrency(int threads) {
  tbb::task_arena arena(arena_threads(threads));
  int seen = 0;
  parallel_for_each(arena, 1, [&](int) { seen = tbb::this_task_arena::max_concurrency(); });
  return seen;
}

}  // namespace deepbmc
