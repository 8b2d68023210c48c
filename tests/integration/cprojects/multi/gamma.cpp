#include "parts.h"

int gamma_()
{
    return 5;
}
