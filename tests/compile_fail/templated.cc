// FERRY_REMOTE on a function template: the error must name the remedy (FERRY_REMOTE_AS).
// With -DFERRY_COMPILE_OK the template is registered the right way and the file must compile.
#include "ferry/function.h"

template <class T>
T twice(T a) {
  return a + a;
}
#ifndef FERRY_COMPILE_OK
FERRY_REMOTE(twice);
#else
FERRY_REMOTE_AS(twice_int, twice<int>, int (*)(int));
#endif

int main() { return 0; }
