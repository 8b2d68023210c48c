#include <cstdlib>
struct Buffer { char data[32]; };
static void drop(Buffer *b) { free(b); }
int main() { Buffer *b = new Buffer(); drop(b); return 0; }
