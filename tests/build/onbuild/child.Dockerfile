FROM fidelity/onbuild-parent
RUN cat /trigger.txt /payload/payload.txt > /child.txt
