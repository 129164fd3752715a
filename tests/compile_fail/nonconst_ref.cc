// A remote function with a non-const lvalue reference parameter: the static_assert names the
// remedy (take it by value or const&). With -DFERRY_COMPILE_OK it takes const& and compiles.
#include "ferry/function.h"

#ifndef FERRY_COMPILE_OK
int bump(int& x) { return ++x; }
#else
int bump(const int& x) { return x + 1; }
#endif
FERRY_REMOTE(bump);

int main() { return 0; }
