// ferry/ferry.h — umbrella header of the ferry user API: the Runtime
// (runtime.h), ObjectRef/put/get/wait (object_ref.h), serialization rules
// (serialization.h), remote functions (function.h), actors (actor.h) and
// task errors (task_error.h); with the launcher on the include path (every
// program links ferry::launcher) also ferry::init / Session (init.h) and
// driver mode, ferry::run (driver.h). A program needs only this header.
#pragma once

#include "ferry/actor.h"
#include "ferry/async.h"
#include "ferry/function.h"
#include "ferry/object_ref.h"
#include "ferry/runtime.h"
#include "ferry/serialization.h"
#include "ferry/task.h"
#include "ferry/task_error.h"

// Programs link the launcher too: ferry::init / Session and driver mode come with this header.
#if __has_include("ferry/init.h")
#include "ferry/driver.h"
#include "ferry/init.h"
#endif
