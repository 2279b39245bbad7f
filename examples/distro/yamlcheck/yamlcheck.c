/* Parse YAML from standard input; print how many scalars it holds. */
#include <stdio.h>
#include <yaml.h>

int main(void) {
    yaml_parser_t parser;
    yaml_event_t event;
    int scalars = 0, done = 0;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, stdin);
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) {
            fprintf(stderr, "yamlcheck: line %lu: %s\n", (unsigned long)parser.problem_mark.line + 1, parser.problem);
            return 1;
        }
        scalars += event.type == YAML_SCALAR_EVENT;
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    printf("libyaml %s: %d scalars\n", yaml_get_version_string(), scalars);
    return 0;
}
