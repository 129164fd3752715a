// STUB — replaced by the launcher implementation (delete this file then).
#include "ferry/launcher/bootstrap.h"
