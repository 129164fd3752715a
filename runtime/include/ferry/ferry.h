// ferry/ferry.h — umbrella header of the ferry user API: the Runtime
// (runtime.h), ObjectRef/put/get/wait (object_ref.h), serialization rules
// (serialization.h), remote functions (function.h), actors (actor.h) and
// task errors (task_error.h).
#pragma once

#include "ferry/actor.h"
#include "ferry/function.h"
#include "ferry/object_ref.h"
#include "ferry/runtime.h"
#include "ferry/serialization.h"
#include "ferry/task_error.h"
