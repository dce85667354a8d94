# Writes the multi-megabyte replay inputs of the tool_call fuzz target into OUT_DIR, deterministically
# (too big to commit). Run as `cmake -DOUT_DIR=<dir> -P make_large_corpus.cmake`; the fuzz.tool_call_large
# test replays them, under a TIMEOUT that a parser quadratic in the number of unclosed tags exceeds.
if(NOT OUT_DIR)
  message(FATAL_ERROR "usage: cmake -DOUT_DIR=<dir> -P make_large_corpus.cmake")
endif()
file(MAKE_DIRECTORY ${OUT_DIR})

set(call "<tool_call>\n{\"name\": \"image_zoom_in\", \"arguments\": {\"bbox\": [10, 20, 300, 400]}}\n</tool_call>")

# 1. 300,000 unclosed opening tags (3.3 MB), then one complete call.
string(REPEAT "<tool_call>" 300000 s)
file(WRITE ${OUT_DIR}/unclosed_tags.txt "${s}${call}")

# 2. A long rambling reply (about 2.6 MB): text, a truncated call and an unclosed brace per line.
string(REPEAT "the harbour has several ships <tool_call>{\"name\": \"image_zoom_in\", \"arguments\": {\"bbox\": [1, 2\n" 26000 s)
file(WRITE ${OUT_DIR}/rambling_reply.txt "<think>long</think>${s}${call}")

# 3. Opening tags with only stray closing tags after all of them (2.4 MB).
string(REPEAT "<tool_call>x" 100000 a)
string(REPEAT "</tool_call>" 100000 b)
file(WRITE ${OUT_DIR}/opens_then_closes.txt "${a}${b}")
