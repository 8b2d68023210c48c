#include "parts.h"

#include <cstdio>

int main()
{
    std::printf("%d\n", alpha() + beta() + gamma_());
    return 0;
}
