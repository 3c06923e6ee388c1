#include <stdio.h>
#include "greet.h"

void greet(const char *who) { printf("Hello, %s! (from libgreet %s)\n", who, GREET_VERSION); }
