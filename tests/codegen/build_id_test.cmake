# cmake/codegen_build_id.cmake: the build id follows the sources' bytes and
# their paths below the root, not where the tree lies (two worktrees at the
# same commit share cache entries; an edit anywhere gives another id), and the
# generated source is rewritten only when the id changes.
#   cmake -DSCRIPT=<cmake/codegen_build_id.cmake> -DWORKDIR=<scratch dir> -P build_id_test.cmake
file(REMOVE_RECURSE "${WORKDIR}")

# The id `script` writes for the tree under `root` (files a.h and sub/b.cpp).
function(build_id root out)
  file(WRITE "${root}/list" "${root}/a.h\n${root}/sub/b.cpp\n")
  execute_process(COMMAND ${CMAKE_COMMAND} -DROOT=${root} -DLIST=${root}/list -DOUT=${root}/id.cpp -P ${SCRIPT}
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "codegen_build_id.cmake failed for ${root}")
  endif()
  file(READ "${root}/id.cpp" text)
  if(NOT text MATCHES "kCodegenBuildId\\[\\] = \"([0-9a-f]+)\"")
    message(FATAL_ERROR "no kCodegenBuildId in ${root}/id.cpp:\n${text}")
  endif()
  string(LENGTH "${CMAKE_MATCH_1}" n)
  if(NOT n EQUAL 32)
    message(FATAL_ERROR "build id ${CMAKE_MATCH_1} is not 32 hex digits")
  endif()
  set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

function(expect what a op b)
  if((op STREQUAL "==" AND NOT a STREQUAL b) OR (op STREQUAL "!=" AND a STREQUAL b))
    message(FATAL_ERROR "${what}: ${a} ${op} ${b} does not hold")
  endif()
endfunction()

foreach(tree one two)
  file(WRITE "${WORKDIR}/${tree}/a.h" "int f();\n")
  file(WRITE "${WORKDIR}/${tree}/sub/b.cpp" "int f() { return 1; }\n")
endforeach()
build_id("${WORKDIR}/one" one)
build_id("${WORKDIR}/two" two)
expect("the same sources in another directory" "${one}" == "${two}")

file(TIMESTAMP "${WORKDIR}/one/id.cpp" before "%s")
execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 1.1)
build_id("${WORKDIR}/one" again)
file(TIMESTAMP "${WORKDIR}/one/id.cpp" after "%s")
expect("unchanged sources" "${one}" == "${again}")
expect("id.cpp left alone when the id is unchanged (no rebuild)" "${before}" == "${after}")

file(WRITE "${WORKDIR}/two/sub/b.cpp" "int f() { return 2; }\n")
build_id("${WORKDIR}/two" edited)
expect("one byte of sub/b.cpp changed" "${one}" != "${edited}")

file(REMOVE_RECURSE "${WORKDIR}/two")
file(WRITE "${WORKDIR}/two/a.h" "int f();\n")
file(WRITE "${WORKDIR}/two/sub/c.cpp" "int f() { return 1; }\n")
file(WRITE "${WORKDIR}/two/list" "${WORKDIR}/two/a.h\n${WORKDIR}/two/sub/c.cpp\n")
execute_process(COMMAND ${CMAKE_COMMAND} -DROOT=${WORKDIR}/two -DLIST=${WORKDIR}/two/list -DOUT=${WORKDIR}/two/id.cpp
                -P ${SCRIPT})
file(READ "${WORKDIR}/two/id.cpp" text)
string(REGEX MATCH "[0-9a-f]{32}" renamed "${text}")
expect("b.cpp renamed to c.cpp" "${one}" != "${renamed}")
file(REMOVE_RECURSE "${WORKDIR}")
