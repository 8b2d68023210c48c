#include "parts.h"

int alpha()
{
    return 5;
}
