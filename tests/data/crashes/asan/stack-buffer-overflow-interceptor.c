#include <string.h>
#include <stdio.h>

static void format_name(char *out, const char *first, const char *last)
{
    strcpy(out, first);
    strcat(out, " ");
    strcat(out, last);
}

int main(void)
{
    char name[16];
    format_name(name, "Bartholomew", "Featherstonehaugh");
    puts(name);
    return 0;
}
