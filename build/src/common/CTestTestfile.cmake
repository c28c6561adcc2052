# CMake generated Testfile for 
# Source directory: /work/main/src/common
# Build directory: /work/main/build/src/common
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[common_test]=] "/work/main/build/src/common/common_test")
set_tests_properties([=[common_test]=] PROPERTIES  LABELS "unit" TIMEOUT "600" _BACKTRACE_TRIPLES "/work/main/cmake/tresor.cmake;8;add_test;/work/main/src/common/CMakeLists.txt;7;tresor_unit_test;/work/main/src/common/CMakeLists.txt;0;")
