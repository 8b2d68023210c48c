static int *remember;
static void keep(void) { int value = 42; remember = &value; }
int main(void) { { keep(); } return *remember; }
