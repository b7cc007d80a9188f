// This process's peak resident memory (VmHWM from /proc/self/status), in MiB; 0 where the
// kernel does not report it.
#pragma once

namespace amortize::io {

double peak_rss_mb();

}  // namespace amortize::io
