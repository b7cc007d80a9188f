// Effect handlers: objects on a thread-local stack that intercept the messages primitives
// send. A handler is entered by constructing it and left when it goes out of scope (RAII),
// so `{ TraceHandler tr; model(); }` records every site the model visits.
#pragma once
#include "amortize/model/message.hpp"

namespace amortize::model {

class Handler {
 public:
  Handler();
  virtual ~Handler();
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;

  // Called innermost handler first, before the value is computed.
  virtual void process(Message& msg) {}
  // Called after the value is computed, from the outermost handler that saw the message inward.
  virtual void postprocess(Message& msg) {}
};

// Sends `msg` through the stack and computes its value (the default effect): draws a sample,
// reads or creates a parameter. Returns the final value.
Tensor apply_stack(Message& msg);

// Number of handlers currently active on this thread.
size_t handler_depth();

// Thrown for modelling errors; the message names the site.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace amortize::model
