#include "core/fiber.h"

#include <poll.h>

#include <atomic>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/cancel.h"
#include "core/logging.h"

namespace slipway::fiber {
namespace {

namespace net = boost::asio;

// Deep enough for the request path (JSON parsing and rendering recurse); a guard page below
// each stack turns an overflow into a crash at the fault instead of silent corruption.
constexpr size_t kStackSize = 256 * 1024;
constexpr size_t kCachedStacks = 64;

thread_local net::io_context* t_io = nullptr;
// The running fiber's yield context; null while the thread runs ordinary handlers. Cleared
// before every suspension and restored after it, so it always names the fiber on the CPU.
thread_local net::yield_context* t_current = nullptr;
thread_local std::vector<boost::context::stack_context> t_stacks;
// Fibers started and not finished, on every thread (LiveFibers).
std::atomic<int> g_live_fibers{0};

// Guarded stacks cost three system calls to make and free; a thread keeps the ones it used.
class RecyclingStack {
 public:
  boost::context::stack_context allocate() {
    if (!t_stacks.empty()) {
      boost::context::stack_context s = t_stacks.back();
      t_stacks.pop_back();
      return s;
    }
    return boost::context::protected_fixedsize_stack(kStackSize).allocate();
  }
  void deallocate(boost::context::stack_context& s) noexcept {
    if (t_stacks.size() < kCachedStacks) {
      t_stacks.push_back(s);
    } else {
      boost::context::protected_fixedsize_stack(kStackSize).deallocate(s);
    }
  }
};

// Runs `start_wait(yield)` with the fiber suspended; restores t_current after.
// The fiber's current cancel token (core/cancel.h) goes and comes back with it.
template <typename StartWait>
void Suspend(StartWait&& start_wait) {
  net::yield_context* self = t_current;
  core::CancelToken* token = core::CurrentCancelSlot();
  t_current = nullptr;
  core::CurrentCancelSlot() = nullptr;
  start_wait(*self);
  t_current = self;
  core::CurrentCancelSlot() = token;
}

Status PollFd(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  int ms = timeout.count() > INT32_MAX ? -1 : static_cast<int>(timeout.count());
  while (true) {
    int n = ::poll(&p, 1, ms);
    if (n > 0) {
      if (p.revents & POLLNVAL) return Unavailable("the socket is closed");
      return Status::Ok();  // an error or hang-up is the reader's to discover
    }
    if (n == 0)
      return DeadlineExceeded("no answer within " + std::to_string(timeout.count()) + " ms");
    if (errno != EINTR) return Unavailable(std::string("poll failed: ") + std::strerror(errno));
  }
}

Status FiberWait(int fd, net::posix::descriptor_base::wait_type type,
                 std::chrono::milliseconds timeout) {
  // The descriptor is borrowed for this one wait: registered with the thread's epoll, released
  // (not closed) after, so its owner keeps it and may use it from any thread later.
  net::posix::stream_descriptor d(*t_io, fd);
  std::optional<net::steady_timer> timer;
  bool timed_out = false;
  if (timeout < std::chrono::hours(1)) {
    timer.emplace(*t_io, timeout);
    timer->async_wait([&](boost::system::error_code ec) {
      if (!ec) {
        timed_out = true;
        d.cancel();
      }
    });
  }
  boost::system::error_code ec;
  Suspend([&](net::yield_context& yield) { d.async_wait(type, yield[ec]); });
  if (timer) timer->cancel();
  d.release();
  if (timed_out)
    return DeadlineExceeded("no answer within " + std::to_string(timeout.count()) + " ms");
  if (ec) return Unavailable("waiting for the socket failed: " + ec.message());
  return Status::Ok();
}

}  // namespace

void BindThread(void* io_context) { t_io = static_cast<net::io_context*>(io_context); }

void UnbindThread() {
  t_io = nullptr;
  for (auto& s : t_stacks) boost::context::protected_fixedsize_stack(kStackSize).deallocate(s);
  t_stacks.clear();
}

bool CanSpawn() { return t_io != nullptr; }
bool InFiber() { return t_current != nullptr; }

int LiveFibers() { return g_live_fibers.load(); }

void Spawn(std::function<void()> task) {
  g_live_fibers.fetch_add(1);
  net::spawn(
      *t_io, std::allocator_arg, RecyclingStack(),
      [task = std::move(task)](net::yield_context yield) {
        t_current = &yield;
        core::CurrentCancelSlot() = nullptr;
        try {
          task();
        } catch (const std::exception& e) {
          core::log::Error("a fiber ended with an exception", {{"error", e.what()}});
        } catch (...) {
          core::log::Error("a fiber ended with an exception that is not a std::exception");
        }
        t_current = nullptr;
        core::CurrentCancelSlot() = nullptr;
        g_live_fibers.fetch_sub(1);
      },
      net::detached);
}

void Defer(std::function<void()> fn) { net::post(*t_io, std::move(fn)); }

Status WaitReadable(int fd, std::chrono::milliseconds timeout) {
  if (!InFiber()) return PollFd(fd, POLLIN, timeout);
  return FiberWait(fd, net::posix::descriptor_base::wait_read, timeout);
}

Status WaitWritable(int fd, std::chrono::milliseconds timeout) {
  if (!InFiber()) return PollFd(fd, POLLOUT, timeout);
  return FiberWait(fd, net::posix::descriptor_base::wait_write, timeout);
}

struct Waiter::Impl {
  std::optional<net::steady_timer> timer;
  bool woken = false;
};

Waiter::Waiter() : impl_(std::make_unique<Impl>()) {}
Waiter::~Waiter() = default;

bool Waiter::Wait(std::chrono::milliseconds timeout) {
  if (!InFiber()) return false;
  impl_->woken = false;
  impl_->timer.emplace(*t_io, timeout);
  boost::system::error_code ec;
  Suspend([&](net::yield_context& yield) { impl_->timer->async_wait(yield[ec]); });
  impl_->timer.reset();
  return impl_->woken;
}

void Waiter::Wake() {
  impl_->woken = true;
  if (impl_->timer) impl_->timer->cancel();
}

struct FiberThread::Impl {
  net::io_context io{1};
  net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(io);
  std::thread thread;
};

FiberThread::FiberThread() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([io = &impl_->io] {
    BindThread(io);
    io->run();
    UnbindThread();
  });
}

FiberThread::~FiberThread() {
  impl_->guard.reset();
  impl_->thread.join();
}

void FiberThread::RunAll(std::vector<std::function<void()>> tasks) {
  std::promise<void> all_done;
  size_t left = tasks.size();
  if (left == 0) return;
  net::post(impl_->io, [&] {
    for (auto& task : tasks) {
      Spawn([&, task = std::move(task)] {
        task();
        if (--left == 0) all_done.set_value();  // `left` is touched by this thread only
      });
    }
  });
  all_done.get_future().wait();
}

void FiberThread::Call(std::function<void()> fn) {
  std::promise<void> done;
  net::post(impl_->io, [&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace slipway::fiber
