#ifndef CLZ4_SHIM_H
#define CLZ4_SHIM_H
// Debian's liblz4-dev (`make` installs it when missing).
#include <lz4.h>
#endif
