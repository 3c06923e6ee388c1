#define GREET_VERSION "1.0"
void greet(const char *who);
