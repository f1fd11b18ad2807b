cmake_minimum_required(VERSION 3.25)
# cmake -DLIBRARY=libbantam_core.so -DREADELF=readelf -DNM=nm -DHEADER=bantam.h -P check_core_library.cmake
# libbantam_core.so: has a SONAME, needs none of libcurl, SQLite, libsodium, exports every
# function of the C API and nothing outside the C API and the bantam:: public classes.
set(problems "")
execute_process(COMMAND ${READELF} -d ${LIBRARY} OUTPUT_VARIABLE dynamic COMMAND_ERROR_IS_FATAL ANY)
if(NOT dynamic MATCHES "\\(SONAME\\)[^\n]*libbantam_core\\.so\\.[0-9]+")
  list(APPEND problems "no SONAME libbantam_core.so.N in the dynamic section")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]]*\\]" needed "${dynamic}")
foreach(entry ${needed})
  if(entry MATCHES "curl|sqlite|sodium")
    list(APPEND problems "core must not need ${entry}")
  endif()
endforeach()

execute_process(COMMAND ${NM} -D --defined-only --demangle ${LIBRARY} OUTPUT_VARIABLE exported
                COMMAND_ERROR_IS_FATAL ANY)
string(REPLACE "\n" ";" exported "${exported}")
foreach(line ${exported})
  # "<address> <type> <name>"
  string(REGEX REPLACE "^[0-9a-f]+ [A-Za-z] " "" symbol "${line}")
  if(NOT symbol MATCHES "^(bantam_[a-z0-9_]+|(typeinfo for |typeinfo name for |vtable for )?bantam::(Model|Session|Adapter|Error|Cancelled|stop_reason_name|embed)([(:]|$).*)$"
     OR symbol MATCHES "::Impl::")
    list(APPEND problems "exports an internal symbol: ${symbol}")
  endif()
endforeach()

file(READ ${HEADER} header)
string(REGEX MATCHALL "\\bbantam_[a-z0-9_]+\\(" declared "${header}")
foreach(call ${declared})
  string(REPLACE "(" "" function ${call})
  if(NOT " ${exported};" MATCHES "[ ;][0-9a-f]+ T ${function};")
    list(APPEND problems "does not export ${function} (declared in bantam.h: mark it BANTAM_API)")
  endif()
endforeach()

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "${LIBRARY}:\n  ${text}")
endif()
list(LENGTH exported count)
message(STATUS "${LIBRARY}: SONAME set, no curl/sqlite3/sodium, ${count} symbols exported, all public")
