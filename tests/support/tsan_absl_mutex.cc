// ThreadSanitizer builds only (-DSANITIZE=thread): tells TSan about absl::Mutex and absl::CondVar.
//
// Debian's Abseil is a shared library built without TSan, so the atomics inside absl::Mutex are
// invisible to it, and every field guarded by an absl::Mutex would be reported as a data race
// (false positives that hide the real ones). This library is linked first into every target of
// a TSan build, so its definitions of the Mutex and CondVar entry points take precedence over
// the library's (ELF symbol interposition); each calls the real one (dlsym RTLD_NEXT) and
// reports the acquire and release edges with TSan's public annotations.
//
// All absl::Mutex objects share one synchronization object here: Abseil evaluates a waiter's
// Condition inside its own code, on whichever thread holds the lock at that moment (also the
// unlocking thread), and which mutex an evaluation belongs to is not visible from Condition::Eval.
// So the edges are coarser than real: a race between critical sections of two different absl
// mutexes is not reported. A race on data touched without the mutex, or through std::mutex,
// atomics or threads, still is.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"

extern "C" {
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}

namespace {

char all_absl_mutexes;  // the one synchronization object (see above)
void Acquire() { __tsan_acquire(&all_absl_mutexes); }
void Release() { __tsan_release(&all_absl_mutexes); }

template <typename Fn>
Fn Real(const char* mangled) {
  void* fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found\n", mangled);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// The mangled names of this Abseil (inline namespace absl::debian3, Debian bookworm).
#define REAL(type, name, mangled) static const auto name = Real<type>(mangled)

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

using MuFn = void (*)(Mutex*);
using MuBoolFn = bool (*)(Mutex*);
using MuCondFn = void (*)(Mutex*, const Condition&);
using MuCondBoolFn = bool (*)(Mutex*, const Condition&);
using MuCondDurFn = bool (*)(Mutex*, const Condition&, Duration);
using MuCondTimeFn = bool (*)(Mutex*, const Condition&, Time);

void Mutex::Lock() {
  REAL(MuFn, real, "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  Acquire();
}
void Mutex::ReaderLock() {
  REAL(MuFn, real, "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  Acquire();
}
void Mutex::Unlock() {
  REAL(MuFn, real, "_ZN4absl7debian35Mutex6UnlockEv");
  Release();
  real(this);
}
void Mutex::ReaderUnlock() {
  REAL(MuFn, real, "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Release();
  real(this);
}
bool Mutex::TryLock() {
  REAL(MuBoolFn, real, "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) Acquire();
  return locked;
}
bool Mutex::ReaderTryLock() {
  REAL(MuBoolFn, real, "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) Acquire();
  return locked;
}
void Mutex::LockWhen(const Condition& cond) {
  REAL(MuCondFn, real, "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  real(this, cond);
  Acquire();
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  REAL(MuCondFn, real, "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  real(this, cond);
  Acquire();
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  REAL(MuCondDurFn, real,
       "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool met = real(this, cond, timeout);
  Acquire();  // held either way
  return met;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  REAL(MuCondTimeFn, real,
       "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool met = real(this, cond, deadline);
  Acquire();
  return met;
}
void Mutex::Await(const Condition& cond) {
  REAL(MuCondFn, real, "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Release();
  real(this, cond);
  Acquire();
}
bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  REAL(MuCondDurFn, real,
       "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release();
  const bool met = real(this, cond, timeout);
  Acquire();
  return met;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  REAL(MuCondTimeFn, real, "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release();
  const bool met = real(this, cond, deadline);
  Acquire();
  return met;
}

// Conditions run inside Abseil with the lock held, on any thread: each evaluation sees what the
// last holder wrote, and what it reads is ordered before the next holder.
bool Condition::Eval() const {
  REAL(bool (*)(const Condition*), real, "_ZNK4absl7debian39Condition4EvalEv");
  Acquire();
  const bool result = real(this);
  Release();
  return result;
}

using CvFn = void (*)(CondVar*, Mutex*);
using CvDurFn = bool (*)(CondVar*, Mutex*, Duration);
using CvTimeFn = bool (*)(CondVar*, Mutex*, Time);

void CondVar::Wait(Mutex* mu) {
  REAL(CvFn, real, "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Release();
  real(this, mu);
  Acquire();
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  REAL(CvDurFn, real, "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release();
  const bool timed_out = real(this, mu, timeout);
  Acquire();
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  REAL(CvTimeFn, real, "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release();
  const bool timed_out = real(this, mu, deadline);
  Acquire();
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl
