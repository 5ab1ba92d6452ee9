# The layers of src/ as libraries that each expose their own headers and nothing else.
#
# Sources include one another as "folder/file.h" from src/. Were src/ itself on a target's
# include path, every folder's headers would be reachable from every other. Instead each layer's
# library puts on its path a folder of the build tree that holds one link, named after the layer,
# to src/<folder> (<build>/layers/<folder>/src/<folder>): a library sees its own headers, those of
# the libraries it links (and what their headers need, through PUBLIC links), and the public
# header include/amanuensis. Including any other folder's header fails to compile.
# (The path ends in src/<folder>/ so that clang-tidy's HeaderFilterRegex, '/src/', still
# covers the headers.)

# The public header (include/amanuensis/amanuensis.h), which every layer may use.
add_library(amanuensis_api INTERFACE)
target_include_directories(amanuensis_api INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)

# Puts src/<folder>'s headers on <target>'s include path, PUBLIC (its users see them too) or
# PRIVATE (an executable's or a shared library's own headers).
function(amanuensis_layer_headers target folder scope)
  set(root ${PROJECT_BINARY_DIR}/layers/${folder}/src)
  file(MAKE_DIRECTORY ${root})
  if(IS_SYMLINK ${root}/${folder} OR EXISTS ${root}/${folder})
    file(REMOVE ${root}/${folder})
  endif()
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${folder} ${root}/${folder} SYMBOLIC)
  target_include_directories(${target} ${scope} $<BUILD_INTERFACE:${root}>)
endfunction()

# A static library for the layer src/<folder>: amanuensis_layer(target folder SOURCES...).
function(amanuensis_layer target folder)
  add_library(${target} STATIC ${ARGN})
  amanuensis_layer_headers(${target} ${folder} PUBLIC)
  target_link_libraries(${target} PUBLIC amanuensis_api)
endfunction()
