from jbuild.cli import main

main()
