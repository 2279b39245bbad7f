#ifndef MINI_H
#define MINI_H
/* The declared interface of minilibc: consumers compile against this file only. */
int mini_strlen(const char *s);
int mini_greeting(char *buf, int size);
#endif
