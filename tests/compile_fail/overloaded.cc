// FERRY_REMOTE on an overloaded name: the error must name the remedy (FERRY_REMOTE_AS).
// With -DFERRY_COMPILE_OK the overload is left out and the file must compile (control).
#include "ferry/function.h"

int add(int a, int b) { return a + b; }
#ifndef FERRY_COMPILE_OK
double add(double a, double b) { return a + b; }
#endif
FERRY_REMOTE(add);

int main() { return 0; }
