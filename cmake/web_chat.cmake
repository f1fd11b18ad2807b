# The chat page `bantam serve` answers at / (web/): bundled by node from web/src/ and the npm
# packages web/package-lock.json pins (installed by scripts/deps.sh with `npm ci`), into one
# generated source of bytes in the serve layer. Needs no network: only what npm ci installed.
find_program(BANTAM_NODE node)
if(NOT BANTAM_NODE)
  message(FATAL_ERROR "node not found: the chat page of `bantam serve` is bundled by node at build time "
                      "(Debian: nodejs; scripts/deps.sh installs it)")
endif()
set(BANTAM_WEB_DIR ${CMAKE_SOURCE_DIR}/web)
if(NOT EXISTS ${BANTAM_WEB_DIR}/node_modules/esbuild/package.json)
  message(FATAL_ERROR "web/node_modules is missing: run scripts/deps.sh (it runs `npm ci` in web/) "
                      "before configuring; the chat page is bundled from those packages")
endif()
file(GLOB BANTAM_WEB_SOURCES CONFIGURE_DEPENDS ${BANTAM_WEB_DIR}/src/*)
set(BANTAM_WEB_OUT ${CMAKE_BINARY_DIR}/web)
add_custom_command(
  OUTPUT ${BANTAM_WEB_OUT}/chat_page.cpp ${BANTAM_WEB_OUT}/chat_page.html
  COMMAND ${BANTAM_NODE} ${BANTAM_WEB_DIR}/build.mjs ${BANTAM_WEB_OUT}
  DEPENDS ${BANTAM_WEB_DIR}/build.mjs ${BANTAM_WEB_SOURCES} ${BANTAM_WEB_DIR}/package-lock.json
  COMMENT "Bundling the chat page (web/)"
  VERBATIM)
target_sources(bantam_serve PRIVATE ${BANTAM_WEB_OUT}/chat_page.cpp)
