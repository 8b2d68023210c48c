#include "parts.h"

int beta()
{
    return 4;
}
