#include "roster.h"

#include <cstdio>

int main(int argc, char** argv)
{
    if (argc < 2)
    {
        std::fprintf(stderr, "usage: %s ROSTER\n", argv[0]);
        return 2;
    }
    Roster roster(argv[1]);
    std::printf("total level %d\n", roster.TotalLevel());
    return 0;
}
