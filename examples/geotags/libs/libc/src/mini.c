#include "mini.h"

int mini_strlen(const char *s) {
    int n = 0;
    while (s[n]) n++;
    return n;
}

int mini_greeting(char *buf, int size) {
    const char *text = "hello from minilibc 1";
    int n = mini_strlen(text);
    if (n >= size) n = size - 1;
    for (int i = 0; i < n; i++) buf[i] = text[i];
    buf[n] = 0;
    return n;
}
