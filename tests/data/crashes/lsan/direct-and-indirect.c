#include <stdlib.h>
#include <string.h>

struct session { char *user; char *token; };

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = xmalloc(strlen(s) + 1);
    return strcpy(d, s);
}

static struct session *session_new(const char *user)
{
    struct session *s = xmalloc(sizeof *s);
    s->user = xstrdup(user);
    s->token = xmalloc(64);
    return s;
}

static void handle_login(const char *user)
{
    struct session *s = session_new(user);
    s->token[0] = 0;
    s = NULL; /* forgot session_free() */
}

int main(void)
{
    for (int i = 0; i < 3; i++)
        handle_login("alice");
    char *scratch = xmalloc(1000);
    scratch[0] = 1;
    scratch = NULL;
    return 0;
}
