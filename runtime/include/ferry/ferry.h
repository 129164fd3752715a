// ferry/ferry.h — umbrella header of the ferry user API: the Runtime
// (runtime.h), ObjectRef/put/get/wait (object_ref.h) and serialization rules
// (serialization.h).
#pragma once

#include "ferry/object_ref.h"
#include "ferry/runtime.h"
#include "ferry/serialization.h"
