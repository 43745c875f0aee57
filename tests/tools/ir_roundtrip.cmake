# `kiln ir NAME` > NAME.kir, then `kiln parse NAME.kir` and `kiln parse - < NAME.kir`
# must print it back byte for byte.
#   cmake -DKILN=path/to/kiln -DNAME=mlp -DWORKDIR=dir -P ir_roundtrip.cmake
file(REMOVE_RECURSE "${WORKDIR}")
file(MAKE_DIRECTORY "${WORKDIR}")
set(kir "${WORKDIR}/${NAME}.kir")

execute_process(COMMAND "${KILN}" ir ${NAME} RESULT_VARIABLE rc OUTPUT_FILE "${kir}" ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kiln ir ${NAME} failed (${rc}): ${err}")
endif()
file(READ "${kir}" printed)
if(NOT printed MATCHES "^func @[^\n]*\\(%[^\n]*-> \\([^\n]*\\) {\n.*  return %[^\n]*\n}\n$")
  message(FATAL_ERROR "kiln ir ${NAME} printed no function:\n${printed}")
endif()

foreach(mode file stdin)
  if(mode STREQUAL "file")
    execute_process(COMMAND "${KILN}" parse "${kir}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  else()
    execute_process(COMMAND "${KILN}" parse - INPUT_FILE "${kir}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  endif()
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "kiln parse (${mode}) of ${NAME}.kir failed (${rc}): ${err}")
  endif()
  if(NOT out STREQUAL printed)
    file(WRITE "${WORKDIR}/${NAME}.reparsed.kir" "${out}")
    message(FATAL_ERROR "kiln parse (${mode}) did not print ${kir} back; see ${NAME}.reparsed.kir")
  endif()
endforeach()
message("${NAME}: ir -> parse -> print is identical (${kir})")
